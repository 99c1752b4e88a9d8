"""Finding the main window's menus, for the feature modules that add actions to them."""
from __future__ import annotations

from PySide6.QtWidgets import QMenu


def menu_named(window, title: str) -> QMenu:
    """The window's top-level menu called ``title`` (ignoring '&'), created before Help."""
    bar = window.menuBar()
    plain, help_action = title.replace("&", ""), None
    for action in bar.actions():
        text = action.text().replace("&", "")
        if action.menu() is not None and text == plain:
            return action.menu()
        if text == "Help":
            help_action = action
    menu = QMenu(title, bar)
    bar.insertMenu(help_action, menu) if help_action else bar.addMenu(menu)
    return menu


def settings_group_start(menu: QMenu):
    """The action to insert before so as to stay above Settings… and the separator before it
    (None, i.e. append, when the menu has no Settings)."""
    acts = menu.actions()
    i = next((k for k, a in enumerate(acts) if a.text().replace("&", "").startswith("Settings")),
             None)
    if i is None:
        return None
    return acts[i - 1] if i > 0 and acts[i - 1].isSeparator() else acts[i]
