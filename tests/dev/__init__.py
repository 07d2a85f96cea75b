"""Tests of ``ductape-jobs dev``, the Web UI and the compose file."""
