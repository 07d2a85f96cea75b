"""``ductape-jobs``: the command line."""
