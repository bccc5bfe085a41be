-- 003_login_throttle.sql — failed staff logins slow down the one who fails,
-- instead of locking the account for everyone (issue 12).
--
-- 001 locked an account for 15 minutes after five wrong passwords from
-- anyone: an attacker could keep a commissioner out by typing five wrong
-- passwords every quarter of an hour. Failures are now counted per
-- (account, client address), per client address over all accounts, and per
-- account over all addresses; past a number of free failures each further
-- one doubles how long that counter refuses new tries (1 s, 2 s, 4 s, ... up
-- to a cap). The account-wide counter only holds back addresses the account
-- has never logged in from, so a distributed attack cannot keep the right
-- person out from where they usually work, and a handful of wrong passwords
-- from one address leaves every other address untouched.
--
-- The counters restart when the last failure is older than the window.
-- staff.failed_logins and staff.locked_until are no longer used.

CREATE TABLE identity.login_throttle (
    scope           text NOT NULL CHECK (scope IN ('account_client', 'client', 'account')),
    key             text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 200),
    failures        integer NOT NULL CHECK (failures >= 0),
    blocked_until   timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_throttle_age_idx ON identity.login_throttle (last_failure_at);
CREATE INDEX session_user_client_idx ON identity.session (user_id, client_ip);

-- Counts one failure for (scope, key); returns the seconds that counter now
-- refuses new tries (0 while failures <= p_free).
CREATE FUNCTION identity.login_failed(p_scope text, p_key text, p_free integer,
                                      p_max_s integer, p_window_s integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_failures integer;
    v_delay integer := 0;
BEGIN
    INSERT INTO identity.login_throttle AS t (scope, key, failures, blocked_until,
                                              last_failure_at)
    VALUES (p_scope, p_key, 1, '-infinity', now())
    ON CONFLICT (scope, key) DO UPDATE SET
        failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => p_window_s)
                        THEN 1 ELSE t.failures + 1 END,
        last_failure_at = now()
    RETURNING failures INTO v_failures;
    IF v_failures > p_free THEN
        -- 2^(n - free - 1) seconds, computed without overflow, capped.
        v_delay := CASE WHEN v_failures - p_free - 1 >= 30 THEN p_max_s
                        ELSE least(p_max_s, (2 ^ (v_failures - p_free - 1))::integer) END;
        UPDATE identity.login_throttle SET blocked_until = now() + make_interval(secs => v_delay)
        WHERE scope = p_scope AND key = p_key;
    END IF;
    RETURN v_delay;
END
$$;
