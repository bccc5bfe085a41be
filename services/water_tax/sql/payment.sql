-- payment.sql — what is the connection's own in counter payments, receipts
-- and reversals: its consumer's contact, a receipt's lines, a payment's
-- checks and how it settles the dues (wt_payment_allocate: oldest charge
-- first, the rest as advance). The flows (wt_payment_record: checks,
-- allocation, receipt number, ledger row, payment in one call; receipts;
-- reversals) are common/sql/accounts 003 and 005's, made in account.sql.
-- Locks are taken in one order: [online order,] connection, receipt
-- counter, the ULB's ledger head.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The consumer's mobile and account, for notifications.
-- (plpgsql: an SQL function that reads a table is never inlined, and was
-- parsed and planned again at every payment.)
CREATE OR REPLACE FUNCTION wt_contact(p_connection text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('mobile', c.mobile, 'userId', c.user_id)
              FROM connection c WHERE c.connection_id = p_connection);
END
$$;

-- A Receipt; plpgsql, so that its plan is kept (property tax's pt_receipt_json).
CREATE OR REPLACE FUNCTION wt_receipt_json(p_payment_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN accounts_receipt_json(wt_account_kind(), p_payment_id,
        (SELECT jsonb_agg(jsonb_build_object('ref', a.ref, 'head', a.head,
                                             'amountPaise', a.amount_paise) ORDER BY a.id)
           FROM allocation a WHERE a.payment_id = p_payment_id));
END
$$;

CREATE OR REPLACE FUNCTION wt_payment_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_fields jsonb;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    v_fields := accounts_payment_fields(p_req);
    IF c.status IN ('APPLIED', 'REJECTED') THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s is %s: nothing to pay yet',
                                                        c.connection_id, c.status));
    END IF;
    RETURN v_fields
           || jsonb_build_object('ulb', c.ulb, 'fy', rule_fy_text(rule_fy_of(p_today)),
                                 'connectionId', c.connection_id, 'mobile', c.mobile,
                                 'userId', c.user_id);
END
$$;

-- (p_ulb: the call is the same for every account, accounts 005; water
-- charges have no rebate that depends on it.)
CREATE OR REPLACE FUNCTION wt_payment_allocate(p_connection text, p_ulb text, p_amount bigint,
                                               p_today date)
RETURNS wt_allocation LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_refs text[] := '{}';
    v_heads text[] := '{}';
    v_dates date[] := '{}';
    v_amounts bigint[] := '{}';
    v_credit bigint := wt_advance_of(p_connection);
    v_available bigint := p_amount + v_credit;
    l record;
    v_take bigint;
BEGIN
    FOR l IN SELECT * FROM wt_dues_lines(p_connection) LOOP
        v_take := least(v_available, l.outstanding_paise);
        IF v_take > 0 THEN
            v_refs := v_refs || l.ref; v_heads := v_heads || l.head;
            v_dates := v_dates || l.charged_on; v_amounts := v_amounts || v_take;
            v_available := v_available - v_take;
        END IF;
    END LOOP;
    IF v_available - v_credit <> 0 THEN
        v_refs := v_refs || 'ADVANCE'::text; v_heads := v_heads || 'ADVANCE'::text;
        v_dates := v_dates || p_today; v_amounts := v_amounts || (v_available - v_credit);
    END IF;
    RETURN ROW(v_refs, v_heads, v_dates, v_amounts, v_available)::wt_allocation;
END
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS wt_reverse_check(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS wt_reverse_prepare(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS wt_reverse_apply(jsonb, bigint, text, text, bigint, text, date);
-- Called with the ULB since accounts 005.
DROP FUNCTION IF EXISTS wt_payment_allocate(text, bigint, date);

SELECT rules_grant_entry_points();
