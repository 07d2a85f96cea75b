"""Tests of how ductape-jobs installs and how its code is laid out."""
