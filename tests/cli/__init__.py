"""Tests of ``ductape-jobs``, the command line."""
