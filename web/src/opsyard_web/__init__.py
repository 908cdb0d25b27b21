"""opsyard's web shell: the layout, login, team pages and the rendering plugins use.

Core never imports this package; it is installed through the ``opsyard.app`` entry point
(:func:`opsyard_web.shell.install`). Plugins render their pages with
:func:`opsyard_web.rendering.render`.
"""
