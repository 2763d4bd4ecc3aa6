"""`python -m app_config`: print the README's settings tables."""

from app_config import settings_markdown

print(settings_markdown())
