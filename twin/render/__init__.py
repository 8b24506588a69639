"""Plan → text files: the Jinja2 templates and the lab's topology. Pure."""
