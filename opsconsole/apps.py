from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app only for its commands, which compose several apps."""

    name = "opsconsole"
    # `opsconsole` is the label of core's models (core.apps).
    label = "project"
    verbose_name = "Project"
