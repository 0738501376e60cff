"""pyrt.linux: the only door to C. Nothing outside this package imports pyrt._cext."""
