from django.urls import path

from fleet.web.dispatch import board, views

urlpatterns = [
    path("dispatch/", board.board, name="dispatch"),
    path("dispatch/tasks/new/", views.task_edit, name="task-new"),
    path("dispatch/tasks/import/", views.task_import, name="task-import"),
    path("dispatch/tasks.csv", views.task_export, name="task-export"),
    path("dispatch/tasks/<int:pk>/", views.task_edit, name="task-edit"),
    path("dispatch/tasks/<int:pk>/move/", board.task_move, name="task-move"),
]
