"""``ductape-jobs dev``: the embedded dev server, an echo target and the stack in one process tree."""
