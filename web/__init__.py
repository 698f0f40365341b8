"""The review workspace: a server-rendered web app over the review store (``ewp web``).

Standards-unit reviewers read this week's list and officer cards and record decisions;
auditors read the fairness audit and the model card; admins manage accounts. See ``ewp.web.app``
for the routes and the access rules, ``ewp.stores.access`` for accounts, sessions and the access
log.
"""

from ewp.web.app import create_app
from ewp.web.settings import WebSettings, web_settings

__all__ = ["WebSettings", "create_app", "web_settings"]
