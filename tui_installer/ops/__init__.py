"""Step-side helpers: what the recipes run on a host (`python -m tui_installer.ops.NAME`).

They never import the engine: a step runs them with the installer's interpreter, and each works on its own.
"""
