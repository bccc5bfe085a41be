-- rules 004 — the financial year a staff report is about, with its span:
-- property tax's and water tax's DCB reports each worked out the ULB, the
-- year and its first and last days in a copy of their own (one with the
-- last day, 31 March, the other with the day after it).
--
-- requires: audit
--
-- rule_ulb_fy_span(actor, req, roles, what) — rule_ulb_year's ulb and fy
--   (the request's "ulb" and "fy", checked, then the actor's role and
--   reach), with starts, the year's first day (1 April), and next_starts,
--   the first day of the next year: a day d is in the year when
--   starts <= d < next_starts.

CREATE OR REPLACE FUNCTION rule_ulb_fy_span(p_actor jsonb, p_req jsonb, p_roles text[],
                                            p_what text, OUT ulb text, OUT fy integer,
                                            OUT starts date, OUT next_starts date)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    SELECT y.ulb, y.fy INTO ulb, fy FROM rule_ulb_year(p_actor, p_req, p_roles, p_what) y;
    starts := make_date(fy, 4, 1);
    next_starts := make_date(fy + 1, 4, 1);
END
$$;
