# Only here to hand cffi its out-of-line build; all metadata lives in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["cext/build_cext.py:ffibuilder"])
