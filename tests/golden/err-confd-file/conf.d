# conf.d is a regular file here, not a directory: an error.
