-- Data migration: runs once, so a second run must not duplicate these rows.
INSERT INTO accounts (ulb_code, holder) VALUES ('802001', 'sample holder one'),
                                               ('802001', 'sample holder two');
