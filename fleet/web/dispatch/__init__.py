"""The Dispatch page: the board by status beside a map of the tasks' destinations and the vehicles, filters,
the task form (attachments, checklist, nearest vehicles, timeline), CSV import and export."""
