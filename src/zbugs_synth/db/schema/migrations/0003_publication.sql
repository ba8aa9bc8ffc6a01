-- What zero-cache replicates. "user" is published without "email": clients never see addresses.
-- Useful only on a server with wal_level=logical (db-up's server has it; elsewhere PostgreSQL warns).

CREATE PUBLICATION "zero_zbugs" FOR TABLE
    "issue", "viewState", "comment", "label", "issueLabel", "emoji", "userPref", "issueNotifications",
    "project", "user" ("id", "login", "name", "avatar", "role", "githubID");
