// mutation_returns.mjs — acceptance: an owner applies online for a mutation
// of their property (the form's rules at their fields first: the shares must
// add up to 100%), sees it waiting on the property's page, and finds the
// return they filed listed on the property's returns; a revenue officer finds
// both in the staff inbox, approves the mutation (recorded as at the counter)
// and accepts the return; the applicant then sees the mutation approved (and
// that the property is no longer theirs). axe-core on each screen, in Hindi and English.
//
// A second return (of another property of the owner's) the officer opens from
// the inbox: what was filed and its ALV; re-assessing it asks for its rules
// at their fields (a zone, an area, a reason), then records the officer's
// particulars: the result shows both ALVs, the inbox no longer lists it, and
// the owner sees it re-assessed with the officer's reason.
//
//   NAGAR_WEB_MOBILE, NAGAR_WEB_OTP_SINK, NAGAR_WEB_PROPERTY, NAGAR_WEB_RETURN (assessment id),
//   NAGAR_WEB_PROPERTY2, NAGAR_WEB_RETURN2 (the return to re-assess), NAGAR_WEB_OFFICER ("username:password")
import { join } from 'node:path';
import { artifacts, base, citizenLogin, english, flowPages, launchBrowser, report, screen, staffLogin } from './lib.mjs';

const mobile = process.env.NAGAR_WEB_MOBILE;
const pid = process.env.NAGAR_WEB_PROPERTY;
const returnId = process.env.NAGAR_WEB_RETURN;
const pid2 = process.env.NAGAR_WEB_PROPERTY2;
const returnId2 = process.env.NAGAR_WEB_RETURN2;
const [officerUser, officerPassword] = process.env.NAGAR_WEB_OFFICER.split(':');
const out = { consoleErrors: [] };

const { newContext, close } = await launchBrowser();
// Once the mutation is approved the property is no longer the citizen's: its
// particulars and dues answer 404, as they should.
let noLongerOwner = false;
const { open, failureShots } = flowPages(newContext, out, (text) => noLongerOwner && /status of 404/.test(text));
const text = async (locator) => (await locator.textContent()).trim();
const cells = (table, column) => table.locator('tbody tr').evaluateAll((rows, c) => rows.map((r) => [r.cells[0].textContent.trim(), r.cells[c].textContent.trim()]), column);

try {
  // ---- the owner applies -------------------------------------------------------
  const citizen = await open(360);
  await citizen.goto(base + '/login');
  await english(citizen);
  await citizen.reload();
  await citizenLogin(citizen, mobile);
  await citizen.goto(base + '/property/' + pid);
  await citizen.getByRole('heading', { name: 'Mutation (change of owners)' }).waitFor();
  await citizen.getByText('You have no mutation application for this property.').waitFor();
  await screen(citizen, 'citizen-property-mutation-none', out);
  await citizen.getByRole('link', { name: 'Apply for a mutation' }).click();
  await citizen.getByRole('heading', { name: 'Application for a mutation' }).waitFor();
  // Nothing filled in: each rule at its field.
  await citizen.getByLabel('Share (%)').fill('');
  await citizen.getByRole('button', { name: 'Send the application' }).click();
  await citizen.getByText('This is required.').first().waitFor();
  out.emptyErrors = await citizen.locator('main .field.invalid label').allTextContents();
  await screen(citizen, 'citizen-mutation-errors', out);
  // Shares that do not add up to 100%.
  await citizen.getByLabel('Name').fill('Ravi Verma');
  await citizen.getByLabel('Share (%)').fill('60');
  await citizen.getByLabel('Deed number').fill('MP/BPL/2026/004217');
  await citizen.getByLabel("Document's reference").fill('REG-77/2026');
  await citizen.getByRole('button', { name: 'Send the application' }).click();
  await citizen.getByText(/^The shares must add up to 100%/).waitFor();
  out.shareError = await text(citizen.getByText(/^The shares must add up to 100%/));
  await screen(citizen, 'citizen-mutation-share-error', out);
  await citizen.getByRole('button', { name: 'Add another owner' }).click();
  const second = citizen.getByRole('group', { name: 'New owner 2' });
  await second.getByLabel('Name').fill('Sita Verma');
  await second.getByLabel('Share (%)').fill('40');
  await citizen.getByLabel('Your statement').fill('Bought on 01/11/2026; registered at the sub-registrar, Bhopal.');
  await citizen.getByRole('button', { name: 'Send the application' }).click();
  await citizen.getByTestId('mutation-sent').waitFor();
  out.sent = await text(citizen.getByTestId('mutation-sent'));
  await screen(citizen, 'citizen-mutation-sent', out);
  await citizen.getByRole('link', { name: 'Back' }).click();
  await citizen.getByTestId('mutation-status').first().waitFor();
  out.pendingStatus = await text(citizen.getByTestId('mutation-status').first());
  out.applyLinksWhilePending = await citizen.getByRole('link', { name: 'Apply for a mutation' }).count();
  await screen(citizen, 'citizen-property-mutation-pending', out);
  // The property's returns, listed by the service.
  await citizen.goto(`${base}/property/${pid}/assessment`);
  await citizen.getByTestId('returns').locator('li').first().waitFor();
  out.returnsBefore = await citizen.getByTestId('returns').locator('li').allTextContents();
  await screen(citizen, 'citizen-returns', out);

  // ---- the revenue officer's inbox --------------------------------------------
  const officer = await open(1280);
  await officer.goto(base + '/staff/');
  await english(officer);
  await officer.reload();
  await staffLogin(officer, officerUser, officerPassword);
  const card = officer.getByRole('article', { name: `Mutation: property ${pid}` });
  await card.waitFor();
  out.cardNewOwners = await text(card.getByTestId('new-owners'));
  const returnCard = officer.getByRole('article', { name: `Return ${returnId}: property ${pid}` });
  await returnCard.waitFor();
  await screen(officer, 'staff-inbox-property', out);
  // Rejecting asks for a reason first.
  await card.getByRole('button', { name: 'Reject' }).click();
  await card.getByText('A reason is required.').waitFor();
  await screen(officer, 'staff-mutation-reason-error', out);
  await card.getByRole('button', { name: 'Approve and record the mutation' }).click();
  await officer.getByTestId('inbox-done').getByText(/^Application \d+ approved/).waitFor();
  out.approved = await text(officer.getByTestId('inbox-done'));
  await card.waitFor({ state: 'detached' });
  await screen(officer, 'staff-mutation-approved', out);
  await returnCard.getByRole('button', { name: 'Accept the return' }).click();
  await officer.getByTestId('inbox-done').getByText(`Return ${returnId} (property ${pid}) accepted.`).waitFor();
  out.accepted = await text(officer.getByTestId('inbox-done'));
  await officer.screenshot({ path: join(artifacts, 'flow-officer-inbox-done.png'), fullPage: true });

  // ---- the officer opens the second return and re-assesses it -------------------
  const returnCard2 = officer.getByRole('article', { name: `Return ${returnId2}: property ${pid2}` });
  await returnCard2.getByRole('link', { name: 'Open the return — accept or re-assess' }).click();
  await officer.getByRole('heading', { name: `Return ${returnId2}: property ${pid2}`, level: 1 }).waitFor();
  out.returnStatusBefore = await officer.getByTestId('return-status').getAttribute('data-status');
  out.filed = await cells(officer.getByTestId('return-particulars'), 1);
  await screen(officer, 'staff-return-filed', out);
  // The rules at their fields: no zone, an area that is no number, no reason.
  const reassess = officer.getByRole('region', { name: 'Re-assess', exact: true });
  await reassess.getByLabel('Zone').fill('');
  await reassess.getByLabel('Row 1: area (sq ft)').fill('nine hundred');
  await reassess.getByRole('button', { name: 'Re-assess and record in the register' }).click();
  await reassess.getByText('A reason is required.').waitFor();
  out.reassessErrors = await reassess.locator('.error').allTextContents();
  out.reassessInvalid = await reassess.locator('[aria-invalid="true"]').evaluateAll((list) => list.map((e) => e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.id));
  // The first field in error has the focus.
  await officer.waitForFunction(() => document.activeElement?.getAttribute('aria-invalid') === 'true');
  out.focusedAfterErrors = await officer.evaluate(() => document.activeElement.labels?.[0]?.textContent || document.activeElement.getAttribute('aria-label'));
  await screen(officer, 'staff-return-reassess-errors', out);
  // What the inspection found: zone B, a first floor of 400 sq ft.
  await reassess.getByLabel('Zone').fill('B');
  await reassess.getByLabel('Row 1: area (sq ft)').fill('900');
  await reassess.getByRole('button', { name: 'Add a floor' }).click();
  await reassess.getByLabel('Row 2: floor').fill('1');
  await reassess.getByLabel('Row 2: area (sq ft)').fill('400');
  await reassess.getByLabel('Reason for re-assessing').fill('Inspection of 03/12/2026: a first floor is built; zone B by the ward map.');
  await reassess.getByRole('button', { name: 'Re-assess and record in the register' }).click();
  await officer.getByTestId('return-done').waitFor();
  out.reassessed = await text(officer.getByTestId('return-done'));
  out.returnStatusAfter = await officer.getByTestId('return-status').getAttribute('data-status');
  out.returnReason = await text(officer.getByTestId('return-reason'));
  out.decidedColumns = await officer.getByTestId('return-particulars').locator('thead th').allTextContents();
  out.decidedFiled = await cells(officer.getByTestId('return-particulars'), 1);
  out.decided = await cells(officer.getByTestId('return-particulars'), 2);
  await officer.waitForFunction(() => document.activeElement?.id === 'return-result');   // the result has the focus
  await screen(officer, 'staff-return-reassessed', out);
  await officer.setViewportSize({ width: 360, height: 780 });
  await screen(officer, 'staff-return-reassessed-360', out);
  await officer.setViewportSize({ width: 1280, height: 900 });
  // Back in the inbox: neither return waits any more.
  await officer.getByRole('link', { name: 'Back to my inbox' }).click();
  await officer.getByRole('heading', { name: 'Self-assessment returns to decide' }).waitFor();
  await officer.waitForFunction(() => !document.querySelector('.busy'));
  out.inboxReturnsAfter = await officer.getByRole('region', { name: 'Self-assessment returns to decide' }).getByRole('article').evaluateAll((list) => list.map((e) => e.getAttribute('aria-label')));
  await screen(officer, 'staff-inbox-after-decisions', out);

  // ---- the applicant sees it decided --------------------------------------------
  noLongerOwner = true;
  await citizen.goto(base + '/property/' + pid);
  await citizen.getByTestId('mutation-status').first().getByText(/^Approved/).waitFor();
  out.approvedStatus = await text(citizen.getByTestId('mutation-status').first());
  // The new owners hold no account of this citizen's: the property is no
  // longer theirs to see, nor to apply for again.
  out.noLongerOwner = await text(citizen.getByTestId('no-longer-owner'));
  out.applyLinksAfter = await citizen.getByRole('link', { name: 'Apply for a mutation' }).count();
  await screen(citizen, 'citizen-property-mutation-approved', out);
  // The re-assessed return, as its owner sees it: the officer's particulars and reason.
  noLongerOwner = false;
  await citizen.goto(`${base}/property/${pid2}/assessment/${returnId2}`);
  await citizen.getByTestId('assessment-status').getByText('Re-assessed').waitFor();
  out.citizenSees = { status: await text(citizen.getByTestId('assessment-status')), alv: await text(citizen.getByTestId('assessment-alv')) };
  await screen(citizen, 'citizen-return-reassessed', out);
  report(out);
} catch (e) {
  await failureShots('mutation_returns');
  throw e;
} finally {
  await close();
}
