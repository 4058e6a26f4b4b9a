"""The reports app's pages: ``pages`` (the report pages and their exports), ``charts`` (charts and the
utilisation overview), ``jobs`` (background report jobs), ``vendor`` (the vendor's own reports beside ours)."""
