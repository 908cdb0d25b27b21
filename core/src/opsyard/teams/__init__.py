"""Teams, memberships and which plugins each team has switched on."""
