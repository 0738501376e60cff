# The README's two commands are `make demo` (install everything, run a container) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test unit guest-test bench clean
install:
	./rootfs-tools/setup-host.sh

demo: install
	./rootfs-tools/demo.sh

# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
test: install
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# Any pytest selection inside the throwaway cgroup-v2 qemu guest, e.g. make guest-test T=tests/guest
guest-test: install
	$(PY) -m tests.guest.run $(T)

bench: install
	$(PY) bench/runtime.py; $(PY) bench/pull.py; $(PY) bench/cri.py; $(PY) bench/shim_verbs.py

clean:
	rm -rf build *.egg-info pyrt/_cext.c pyrt/_cext*.so
