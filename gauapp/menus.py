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
