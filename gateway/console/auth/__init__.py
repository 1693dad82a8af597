"""Console logins: users, passwords, sessions, CSRF, single sign-on and roles."""
