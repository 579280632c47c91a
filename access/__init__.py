"""Who may see what: accounts, roles and scope, the SQL console's sandbox, the audit trail."""
