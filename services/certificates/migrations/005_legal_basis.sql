-- 005_legal_basis.sql — the law behind every legal figure the service
-- seeds or enforces, beside the figure (issue 14 item 7).
--
-- Each figure of the fee schedule (a column of fee_schedule, by its JSON
-- name) and each rule in the C code that stands for a statutory figure has
-- a row: what the law says, the act, section and rule with their year, and
-- whether it was confirmed against a published text or an official notice
-- (confirmed = false says so plainly, with what was seen and what was not,
-- in note). fees.get answers these rows with the schedule. Checked in
-- December 2026 against stored copies of public pages; no bare text of the
-- MP Registration of Births and Deaths Rules, 2024 was available, only a
-- published summary of them and the state government's notes.
--
-- One figure was wrong and is fixed here and in workflow.c: the window for
-- entering a child's name (RBD Act s.14) runs from the date of
-- registration, not from the birth. The number of days stays 5475 (15
-- years, counted in days like every window of the schedule).
--
-- The app role reads this table; only migrations change it.

CREATE TABLE certificates.legal_basis (
    figure     text PRIMARY KEY,     -- FeeSchedule field, or marriage.* for the rules in marriage.c
    law        text NOT NULL,        -- what the law says, in one line
    citation   text NOT NULL,        -- act, section / rule, year
    confirmed  boolean NOT NULL,     -- checked against a published text or official notice
    note       text NOT NULL DEFAULT ''
);
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON certificates.legal_basis FROM certificates_app;

INSERT INTO certificates.legal_basis (figure, law, citation, confirmed, note) VALUES
('freeDays',
 'A birth or death is reported within 21 days of the event, in Forms 1, 2 and 3; registration within that period is free (late fees of s.13 apply only after it).',
 'Registration of Births and Deaths Act, 1969 (as amended by the Amendment Act, 2023), s.8 and s.13(1); MP Registration of Births and Deaths Rules, 2024, r.5',
 true,
 '21 days confirmed from a published summary of the MP Rules, 2024 (notified 1 January 2025) and the MP Rules, 1999 it replaced. The rule number is that of the model rules the MP Rules follow; the MP text itself was not seen.'),
('lateDays',
 'Reported after 21 days but within 30 days of the event: registered on payment of the late fee.',
 'RBD Act, 1969 (amended 2023), s.13(1); MP RBD Rules, 2024, r.9(1)',
 true,
 'Confirmed from the published summary of the MP Rules, 2024. Rule number as in the model rules.'),
('lateFeePaise',
 'Late fee for a report after 21 and within 30 days: Rs 20.',
 'RBD Act, 1969 (amended 2023), s.13(1); MP RBD Rules, 2024, r.9(1)',
 true,
 'Rs 20 confirmed from the published summary of the MP Rules, 2024.'),
('permissionDays',
 'Reported after 30 days but within one year: registered only with the written permission of the prescribed authority (in MP the District Registrar), on a self-attested document (2024, in place of a notarised affidavit) and the late fee.',
 'RBD Act, 1969 (amended 2023), s.13(2); MP RBD Rules, 2024, r.9(2)',
 true,
 'One year as 365 days. Permission of the District Registrar and the self-attested document confirmed from the summary of the MP Rules, 2024 and the MP cabinet note of 26 December 2024.'),
('permissionFeePaise',
 'Late fee for a report after 30 days and within one year: Rs 50.',
 'RBD Act, 1969 (amended 2023), s.13(2); MP RBD Rules, 2024, r.9(2)',
 true,
 'Rs 50 confirmed from the published summary of the MP Rules, 2024.'),
('orderFeePaise',
 'Reported after one year: registered only on an order of the District Magistrate, a Sub-Divisional Magistrate or an Executive Magistrate authorised by the District Magistrate, after verifying the event, and on the late fee of Rs 100.',
 'RBD Act, 1969 (amended 2023), s.13(3); MP RBD Rules, 2024, r.9(3)',
 true,
 'Rs 100 and the magistrates of the 2023 amendment (before it: a Magistrate of the first class) confirmed from the summary of the MP Rules, 2024 and the MP cabinet note of 26 December 2024.'),
('marriageFeePaise',
 'Fee for a certificate of registration of a marriage: Rs 30 a certificate. In urban areas the Chief Municipal Officer is the Registrar of marriages.',
 'MP Compulsory Registration of Marriages Rules, 2008 (notified 23 January 2008 under s.50 of the Special Marriage Act, 1954)',
 true,
 'Rs 30 a certificate confirmed from the MP government''s public note of February 2016 on the 2008 Rules. The number of the rule that fixes it was not confirmed (the bare text was not seen).'),
('childNameDays',
 'A birth registered without the child''s name: the name is given within 12 months of the date of registration without fee, and after that on a late fee until the long stop; counted from the date of registration, not from the birth.',
 'RBD Act, 1969 (amended 2023), s.14; MP RBD Rules, 2024, r.10',
 false,
 'Confirmed: 12 months from the date of registration (summary of the MP Rules, 2024). Not confirmed: the 15-year long stop (5475 days), which is the model rules'' figure as other states adopted it (e.g. Kerala''s rules as amended in 2015); the MP text was not seen and the summary speaks of a five-year extension, which matches the model rules'' transition for births registered before the rules began. The late fee after 12 months (Rs 5 in the model rules) is not collected by Nagar and its MP 2024 amount was not confirmed.'),
('certificateOnRegistration',
 'The extract (certificate) given to the informant when a birth or death is registered is free; only the late fees of s.13 are due on registration. Further extracts are issued under s.17 for a fee.',
 'RBD Act, 1969 (amended 2023), s.12 and s.17',
 false,
 'From the Act as known; its text was not among the stored pages searched. The fee for further extracts under s.17 (MP Rules, 2024) was not confirmed and is not charged by Nagar.'),
('marriage.minimumAge',
 'A marriage is registered only if the groom was at least 21 and the bride at least 18 on the date of marriage.',
 'Prohibition of Child Marriage Act, 2006, s.2(a)',
 true,
 'Ages 21 and 18 confirmed (as the condition of marriage registration in published state marriage-registration instructions). Enforced in services/certificates/marriage.c.'),
('marriage.witnesses',
 'The memorandum of marriage is signed by the parties and witnesses (Nagar asks 2 to 6).',
 'MP Compulsory Registration of Marriages Rules, 2008 (the memorandum)',
 false,
 'Two witnesses is what other states'' compulsory marriage rules ask; the MP 2008 memorandum form was not seen. Six is Nagar''s bound on the list, not a legal figure. Enforced in services/certificates/marriage.c.');

COMMENT ON TABLE certificates.legal_basis IS
    'The law behind each legal figure of the fee schedule and of the marriage rules (migration 005).';
COMMENT ON COLUMN certificates.fee_schedule.free_days IS
    '21: RBD Act 1969 (amended 2023) s.8, s.13(1); MP RBD Rules 2024 r.5 — see legal_basis freeDays';
COMMENT ON COLUMN certificates.fee_schedule.late_days IS
    '30: RBD Act 1969 (amended 2023) s.13(1); MP RBD Rules 2024 r.9(1) — see legal_basis lateDays';
COMMENT ON COLUMN certificates.fee_schedule.late_fee_paise IS
    'Rs 20: RBD Act 1969 (amended 2023) s.13(1); MP RBD Rules 2024 r.9(1)';
COMMENT ON COLUMN certificates.fee_schedule.permission_days IS
    '365 (one year): RBD Act 1969 (amended 2023) s.13(2); MP RBD Rules 2024 r.9(2)';
COMMENT ON COLUMN certificates.fee_schedule.permission_fee_paise IS
    'Rs 50: RBD Act 1969 (amended 2023) s.13(2); MP RBD Rules 2024 r.9(2)';
COMMENT ON COLUMN certificates.fee_schedule.order_fee_paise IS
    'Rs 100: RBD Act 1969 (amended 2023) s.13(3); MP RBD Rules 2024 r.9(3)';
COMMENT ON COLUMN certificates.fee_schedule.marriage_fee_paise IS
    'Rs 30 a certificate: MP Compulsory Registration of Marriages Rules 2008 (rule number not confirmed)';
COMMENT ON COLUMN certificates.fee_schedule.child_name_days IS
    'Days from the date of REGISTRATION (not the birth) to enter a child''s name: RBD Act 1969 s.14; MP RBD Rules 2024 r.10 (15 years not confirmed) — see legal_basis childNameDays';
