"""Stage 5: render the plan into bundle files with Jinja2 templates."""
