"""Team sprint calendars: the sprint a day falls in, and the sprints after it."""
