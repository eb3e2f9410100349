"""Marketing campaigns (issue 14): the model and its state machine (``store``), the audience plan with its
control group (``plan``), the per-recipient delivery log with its at-most-once key and send-time checks
(``delivery``), and the uplift against the control group (``uplift``). The task queue that runs them is
``api.campaign_queue``; docs/CAMPAIGNS.md explains the whole.

Importing this package opens no database connection.
"""
