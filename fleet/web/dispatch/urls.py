from django.urls import path

from fleet.web.dispatch import attachments, board, views

task = "dispatch/tasks/<int:pk>"
urlpatterns = [
    path("dispatch/", board.board, name="dispatch"),
    path("dispatch/tasks/new/", views.task_edit, name="task-new"),
    path("dispatch/tasks/import/", views.task_import, name="task-import"),
    path("dispatch/tasks.csv", views.task_export, name="task-export"),
    path(f"{task}/", views.task_edit, name="task-edit"),
    path(f"{task}/move/", board.task_move, name="task-move"),
    path(f"{task}/files/", attachments.file_add, name="task-file-add"),
    path(f"{task}/files/<int:file_pk>/", attachments.file_download, name="task-file"),
    path(f"{task}/files/<int:file_pk>/delete/", attachments.file_delete, name="task-file-delete"),
    path(f"{task}/checklist/", attachments.item_add, name="task-item-add"),
    *(
        path(
            f"{task}/checklist/<int:item_pk>/{action}/",
            attachments.item_change,
            {"action": action},
            name=f"task-item-{action}",
        )
        for action in ("tick", "untick", "remove")
    ),
]
