-- dues.sql — what a connection owes: bills and fees less what allocations
-- settled, oldest first, and its credit.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION wt_head_order(p_head text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_head WHEN 'SURCHARGE' THEN 0 WHEN 'WATER' THEN 1 WHEN 'SEWERAGE' THEN 2
                       WHEN 'SOLID_WASTE' THEN 3 ELSE 4 END
$$;

-- Every charge of a connection with what is settled and outstanding, in
-- apportionment order: oldest first (a bill on its bill date, a fee on the
-- day it was charged), within a bill SURCHARGE, WATER (after the advance
-- rebate), SEWERAGE, SOLID_WASTE.
CREATE OR REPLACE FUNCTION wt_dues_lines(p_connection text)
RETURNS TABLE (ref text, head text, charged_on date, due_on date, ord integer, charged_paise bigint,
               settled_paise bigint, outstanding_paise bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    WITH ch AS (
        SELECT wt_period_text(b.period) AS ref, x.head, b.bill_date AS charged_on, b.due_date AS due_on,
               wt_head_order(x.head) AS ord, x.amount
        FROM bill b
        CROSS JOIN LATERAL (VALUES ('SURCHARGE', b.surcharge_paise),
                                   ('WATER', b.water_paise - b.rebate_paise),
                                   ('SEWERAGE', b.sewerage_paise),
                                   ('SOLID_WASTE', b.solid_waste_paise)) AS x(head, amount)
        WHERE b.connection_id = p_connection AND x.amount <> 0
        UNION ALL
        SELECT 'FEE:' || f.id, f.head, f.charged_on, f.charged_on, 4, f.amount_paise
        FROM fee f WHERE f.connection_id = p_connection
    ), st AS (
        SELECT a.ref, a.head, sum(a.amount_paise) AS amount FROM allocation a
        WHERE a.connection_id = p_connection AND a.head <> 'ADVANCE' GROUP BY a.ref, a.head
    )
    SELECT ch.ref, ch.head, ch.charged_on, ch.due_on, ch.ord, ch.amount::bigint,
           coalesce(st.amount, 0)::bigint, (ch.amount - coalesce(st.amount, 0))::bigint
    FROM ch LEFT JOIN st ON st.ref = ch.ref AND st.head = ch.head
    ORDER BY ch.charged_on, ch.ref, ch.ord;
END
$$;

-- What a connection owes on p_as_of, as dues.get answers it (wt_dues, made
-- in account.sql, checks who asks and "asOf"): a bill or fee dated after
-- it is not owed yet (issue 14: March's dues showed April's bills).
-- (p_ulb: the call is the same for every account.)
CREATE OR REPLACE FUNCTION wt_dues_json(p_connection text, p_ulb text, p_as_of date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('connectionId', p_connection, 'asOf', p_as_of::text, 'lines', t.lines,
                              'outstandingPaise', t.outstanding, 'advancePaise', t.advance,
                              'payablePaise', greatest(t.outstanding - t.advance, 0))
    FROM (SELECT coalesce(jsonb_agg(jsonb_build_object('ref', l.ref, 'head', l.head,
                                        'chargedPaise', l.charged_paise,
                                        'settledPaise', l.settled_paise,
                                        'outstandingPaise', l.outstanding_paise)
                                        ORDER BY l.charged_on, l.ref, l.ord), '[]') AS lines,
                 coalesce(sum(l.outstanding_paise), 0)::bigint AS outstanding,
                 wt_advance_of(p_connection) AS advance
          FROM wt_dues_lines(p_connection) l WHERE l.charged_on <= p_as_of) t
$$;

SELECT rules_grant_entry_points();
