// ulbs.js — the towns (ULBs) of the LGD list the identity service is seeded
// with (services/identity/data/mp_ulbs_lgd_2022.csv), compiled in by
// build.mjs as a content-hashed chunk of its own: master data that changes
// rarely, so the town search shows and filters it without an API round trip.
// [{code, name, districtName}], by name.
export { default as ULBS } from '../../../services/identity/data/mp_ulbs_lgd_2022.csv';
