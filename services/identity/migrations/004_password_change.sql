-- 004_password_change.sql — a one-time password is used once (issue 14).
--
-- The first state admin's password is printed by `nagar-identity
-- bootstrap-admin` and was valid for ever. An account whose
-- must_change_password is set logs in to a password-change token only
-- (staff.login answers password_change_required), which nothing but
-- staff.replace_one_time_password accepts; the new password clears the
-- flag. password_changed_at says when the password was last set by its
-- holder (NULL: never, it is still the one it was created with).

ALTER TABLE identity.staff
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN password_changed_at timestamptz;

-- A state admin bootstrapped before this migration still has the password
-- that was printed on a terminal: it too must be changed at the next login.
UPDATE identity.staff SET must_change_password = true
 WHERE created_by = 'system:bootstrap-admin' AND NOT disabled;
