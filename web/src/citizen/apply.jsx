// apply.jsx — the three registration applications (birth, death, marriage)
// with the rules the certificates service enforces, checked here first so the
// citizen sees each error at its field in the chosen language; an error the
// service still finds is shown at the field it names.
//
// A form's state is flat: "informant.name", "groom.dateOfBirth",
// "witnesses.1.address"; report() makes the nested request from it, and the
// service's field paths ("marriage.witnesses[1].address") map back to these.
import { useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { today } from '../common/format.js';
import { Field, Link, Notice, navigate } from '../common/ui.jsx';
import { currentTown } from './home.jsx';

const MOBILE = /^[6-9]\d{9}$/;
const SEXES = ['FEMALE', 'MALE', 'TRANSGENDER'];
const PLACES = ['HOSPITAL', 'HOUSE', 'OTHER_PLACE'];
const CAUSES = ['NATURAL', 'ACCIDENT', 'SUICIDE', 'HOMICIDE', 'PENDING_INVESTIGATION', 'NOT_KNOWN'];
const NAME_MAX = 200;
const WITNESSES_MIN = 2, WITNESSES_MAX = 6;

// Whole years from born to on (both YYYY-MM-DD).
export function ageOn(born, on) {
  const [by, bm, bd] = born.split('-').map(Number);
  const [oy, om, od] = on.split('-').map(Number);
  return oy - by - (om < bm || (om === bm && od < bd) ? 1 : 0);
}
const days = (a, b) => Math.round((Date.parse(b + 'T00:00:00Z') - Date.parse(a + 'T00:00:00Z')) / 86400000);

// Nested object from the flat state: "a.b" -> {a: {b}}, "w.0.name" -> {w: [{name}]}.
function nest(flat, keys) {
  const out = {};
  keys.forEach((key) => {
    const parts = key.split('.');
    let node = out;
    parts.slice(0, -1).forEach((p, i) => {
      const nextIsIndex = /^\d+$/.test(parts[i + 1]);
      if (node[p] === undefined) node[p] = nextIsIndex ? [] : {};
      node = node[p];
    });
    const v = flat[key];
    node[parts[parts.length - 1]] = typeof v === 'string' ? v.trim() : v;
  });
  return out;
}

// "death.informant.name" / "marriage.witnesses[1].name" -> the form's key.
export const localKey = (field, kind) => String(field || '').replace(new RegExp('^' + kind + '\\.'), '').replace(/\[(\d+)\]/g, '.$1');

function required(f, errors, keys) {
  keys.forEach((k) => { if (!String(f[k] ?? '').trim()) errors[k] = msg('rule.required'); });
}
function lengths(f, errors, keys, max) {
  keys.forEach((k) => { if (!errors[k] && String(f[k] ?? '').trim().length > max) errors[k] = msg('rule.toolong', { max: String(max) }); });
}
function notFuture(f, errors, key) {
  if (!errors[key] && f[key] && f[key] > today()) errors[key] = msg('rule.future');
}
function informantRules(f, e) {
  required(f, e, ['informant.name', 'informant.relation', 'informant.address']);
  if (f['informant.mobile'] && !MOBILE.test(f['informant.mobile'])) e['informant.mobile'] = msg('login.mobile.invalid');
}

const KINDS = {
  birth: {
    title: 'cert.apply.birth',
    initial: { dateOfBirth: '', sex: 'FEMALE', childName: '', fatherName: '', motherName: '', addressAtBirth: '', permanentAddress: '', placeKind: 'HOSPITAL', placeName: '', 'informant.name': '', 'informant.relation': '', 'informant.address': '', 'informant.mobile': '' },
    check(f) {
      const e = {};
      required(f, e, ['dateOfBirth', 'motherName', 'addressAtBirth', 'permanentAddress', 'placeName']);
      notFuture(f, e, 'dateOfBirth');
      lengths(f, e, ['childName', 'fatherName', 'motherName'], NAME_MAX);
      informantRules(f, e);
      return e;
    },
  },
  death: {
    title: 'cert.apply.death',
    initial: { dateOfDeath: '', deceasedName: '', sex: '', ageYears: '', dateOfBirth: '', placeKind: 'HOSPITAL', placeName: '', causeCategory: '', fatherOrSpouseName: '', permanentAddress: '', 'informant.name': '', 'informant.relation': '', 'informant.address': '', 'informant.mobile': '' },
    check(f) {
      const e = {};
      required(f, e, ['dateOfDeath', 'deceasedName', 'sex', 'ageYears', 'placeName', 'causeCategory', 'permanentAddress']);
      notFuture(f, e, 'dateOfDeath');
      notFuture(f, e, 'dateOfBirth');
      lengths(f, e, ['deceasedName', 'fatherOrSpouseName'], NAME_MAX);
      if (!e.ageYears && (!/^\d{1,3}$/.test(f.ageYears) || Number(f.ageYears) > 130)) e.ageYears = msg('rule.age');
      if (f.dateOfBirth && f.dateOfDeath && !e.dateOfBirth && !e.dateOfDeath) {
        if (f.dateOfDeath < f.dateOfBirth) e.dateOfDeath = msg('rule.death.before.birth');
        else if (!e.ageYears && Math.abs(Math.floor(days(f.dateOfBirth, f.dateOfDeath) / 365.2425) - Number(f.ageYears)) > 1) e.ageYears = msg('rule.age.agree');
      }
      informantRules(f, e);
      return e;
    },
    body(f) { return { ...f, ageYears: Number(f.ageYears) }; },
  },
  marriage: {
    title: 'cert.apply.marriage',
    initial: { dateOfMarriage: '', placeOfMarriage: '', 'groom.name': '', 'groom.dateOfBirth': '', 'groom.fatherName': '', 'groom.address': '', 'bride.name': '', 'bride.dateOfBirth': '', 'bride.fatherName': '', 'bride.address': '', 'witnesses.0.name': '', 'witnesses.0.address': '', 'witnesses.1.name': '', 'witnesses.1.address': '' },
    check(f) {
      const e = {};
      required(f, e, ['dateOfMarriage', 'placeOfMarriage', 'groom.name', 'groom.dateOfBirth', 'groom.address', 'bride.name', 'bride.dateOfBirth', 'bride.address']);
      ['dateOfMarriage', 'groom.dateOfBirth', 'bride.dateOfBirth'].forEach((k) => notFuture(f, e, k));
      lengths(f, e, ['groom.name', 'bride.name', 'groom.fatherName', 'bride.fatherName'], NAME_MAX);
      // Prohibition of Child Marriage Act, 2006: groom 21, bride 18 on the day.
      [['groom', 21, 'rule.groom.age'], ['bride', 18, 'rule.bride.age']].forEach(([who, min, rule]) => {
        const k = who + '.dateOfBirth';
        if (!e[k] && !e.dateOfMarriage && ageOn(f[k], f.dateOfMarriage) < min) e[k] = t(rule);
      });
      const n = witnessCount(f);
      for (let i = 0; i < n; i++) required(f, e, [`witnesses.${i}.name`, `witnesses.${i}.address`]);
      return e;
    },
  },
};
const witnessCount = (f) => Object.keys(f).filter((k) => /^witnesses\.\d+\.name$/.test(k)).length;

// What the service says about a field, in the chosen language when the rule
// is one the form knows.
const SERVICE_RULES = {
  'groom.dateOfBirth': 'rule.groom.age', 'bride.dateOfBirth': 'rule.bride.age',
  ageYears: 'rule.age.agree', dateOfDeath: 'rule.death.before.birth',
};
function serviceError(kind, err) {
  const key = localKey(err.field, kind);
  if (!key) return {};
  const known = SERVICE_RULES[key] && err.status === 422 && /at least|agree|before/.test(err.message) ? msg(SERVICE_RULES[key]) : '';
  return { [key]: known || err.message };
}

export function Apply({ kind }) {
  const spec = KINDS[kind];
  const town = currentTown();
  const [f, setF] = useState(spec.initial);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF((old) => ({ ...old, [k]: v }));

  async function submit(e) {
    e.preventDefault();
    const local = spec.check(f);
    setErrors(local); setError(null);
    if (!town) { setError({ code: 'NO_TOWN', message: msg('town.required') }); return; }
    if (Object.keys(local).length) {
      setTimeout(() => document.querySelector('form [aria-invalid="true"]')?.focus(), 0);
      return;
    }
    setBusy(true);
    try {
      const flat = spec.body ? spec.body(f) : f;
      const report = nest(flat, Object.keys(flat));
      const a = await api('POST', '/api/v1/certificates/applications/' + kind, { key: newKey(), body: { ulb: town.code, [kind]: report } });
      navigate('/certificates/app/' + encodeURIComponent(a.applicationId));
    } catch (err) {
      setError(err);
      const fe = serviceError(kind, err);
      setErrors(fe);
      setTimeout(() => document.querySelector('form [aria-invalid="true"]')?.focus(), 0);
    } finally { setBusy(false); }
  }

  // A field of this form: its label is "<kind>.<key>" in the catalog (the
  // informant's and the spouses' are shared).
  const F = (k, type = 'text', extra = {}) => {
    const labelKey = k.startsWith('informant.') ? 'informant.' + k.slice(10)
      : /^(groom|bride)\./.test(k) ? 'spouse.' + k.split('.')[1]
        : /^witnesses\./.test(k) ? 'witness.' + k.split('.')[2]
          : kind + '.' + k;
    return <Field key={k} label={t(labelKey)} value={f[k]} onInput={set(k)} type={type} error={errors[k]} {...extra} />;
  };
  const choose = (k, values, prefix, blank) => (
    <Field label={t(kind + '.' + k)} value={f[k]} onInput={set(k)} error={errors[k]}>
      {blank && <option value="">{t('common.choose')}</option>}
      {values.map((v) => <option key={v} value={v}>{t(prefix + v)}</option>)}
    </Field>
  );
  const informant = (
    <fieldset><legend>{t('informant.title')}</legend>
      {F('informant.name', 'text', { autocomplete: 'name' })}{F('informant.relation')}{F('informant.address')}
      {F('informant.mobile', 'tel', { inputMode: 'numeric', maxLength: 10, hint: t('informant.mobile.hint') })}
    </fieldset>
  );
  const dateMax = { max: today() };
  const n = witnessCount(f);
  function addWitness() { setF((old) => ({ ...old, [`witnesses.${n}.name`]: '', [`witnesses.${n}.address`]: '' })); }
  function removeWitness() {
    setF((old) => { const next = { ...old }; delete next[`witnesses.${n - 1}.name`]; delete next[`witnesses.${n - 1}.address`]; return next; });
  }

  return (
    <>
      <h1>{t(spec.title)}</h1>
      <p>{town ? t('cert.town', { town: town.name }) : <Link href="/town">{t('town.choose')}</Link>}</p>
      <Notice kind="error">{error && (error.code === 'NO_TOWN' ? error.message : errorText(error))}</Notice>
      <form onSubmit={submit} noValidate data-kind={kind}>
        {kind === 'birth' && (
          <>
            {F('dateOfBirth', 'date', dateMax)}
            {choose('sex', SEXES, 'sex.')}
            {F('childName', 'text', { hint: t('birth.childName.hint') })}
            {F('fatherName', 'text', { hint: t('common.optional') })}{F('motherName')}{F('addressAtBirth')}{F('permanentAddress')}
            {choose('placeKind', PLACES, 'place.')}
            {F('placeName')}
            {informant}
          </>
        )}
        {kind === 'death' && (
          <>
            {F('dateOfDeath', 'date', dateMax)}
            {F('deceasedName')}
            {choose('sex', SEXES, 'sex.', true)}
            {F('ageYears', 'text', { inputMode: 'numeric', maxLength: 3 })}
            {F('dateOfBirth', 'date', { ...dateMax, hint: t('common.optional') })}
            {choose('placeKind', PLACES, 'place.')}
            {F('placeName')}
            {choose('causeCategory', CAUSES, 'cause.', true)}
            {F('fatherOrSpouseName', 'text', { hint: t('common.optional') })}
            {F('permanentAddress')}
            {informant}
          </>
        )}
        {kind === 'marriage' && (
          <>
            {F('dateOfMarriage', 'date', dateMax)}
            {F('placeOfMarriage')}
            {['groom', 'bride'].map((who) => (
              <fieldset key={who}><legend>{t('marriage.' + who)}</legend>
                {F(who + '.name')}{F(who + '.dateOfBirth', 'date', { ...dateMax, hint: t('marriage.' + who + '.age') })}
                {F(who + '.fatherName', 'text', { hint: t('common.optional') })}{F(who + '.address')}
              </fieldset>
            ))}
            <fieldset><legend>{t('marriage.witnesses')}</legend>
              {Array.from({ length: n }, (_, i) => (
                <div key={i} role="group" aria-label={t('witness.n', { n: String(i + 1) })}>
                  <p class="muted">{t('witness.n', { n: String(i + 1) })}</p>
                  {F(`witnesses.${i}.name`)}{F(`witnesses.${i}.address`)}
                </div>
              ))}
              {n < WITNESSES_MAX && <button type="button" class="secondary" onClick={addWitness}>{t('witness.add')}</button>}
              {n > WITNESSES_MIN && <button type="button" class="secondary" onClick={removeWitness}>{t('witness.remove')}</button>}
            </fieldset>
          </>
        )}
        <button type="submit" disabled={busy}>{t('cert.submit')}</button>
      </form>
    </>
  );
}
