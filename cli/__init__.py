"""The attnsim command line: a thin click shell over the library."""
