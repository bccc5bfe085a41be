// citizen_pay.mjs — acceptance: a citizen logs in with a mobile OTP, finds the
// property, pays online through the provider's page and back, and downloads
// the receipt PDF (its amount checked by the caller with pdftotext); before
// paying, the year's demand notice PDF.
//   NAGAR_WEB_MOBILE, NAGAR_WEB_PROPERTY, NAGAR_WEB_OTP_SINK (the SMS sink file)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, base, expect, launch, otpIn, report, screen } from './lib.mjs';

const mobile = process.env.NAGAR_WEB_MOBILE;
const propertyId = process.env.NAGAR_WEB_PROPERTY;

const sinkLines = () => { try { return readFileSync(process.env.NAGAR_WEB_OTP_SINK, 'utf8').trim().split('\n'); } catch { return []; } };
let seen = 0;
function otpFromSink() {
  const lines = sinkLines().slice(seen).reverse();
  for (const line of lines) {
    if (!line.includes(mobile)) continue;
    const otp = otpIn(JSON.parse(line).text || JSON.parse(line).body || line);
    if (otp) return otp;
  }
  return null;
}

const { context, close } = await launch();
let page;
const flow = {};
try {
  page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && (m.location().url || '').startsWith(base)) errors.push(m.text() + ' ' + m.location().url); });
  await page.goto(base + '/property');
  // Hindi by default: the login page asks for the mobile number.
  await page.getByLabel('मोबाइल नंबर').fill(mobile);
  seen = sinkLines().length;
  await page.getByRole('button', { name: 'ओटीपी भेजें' }).click();
  await page.getByLabel('ओटीपी (6 अंक)').waitFor();
  await screen(page, 'citizen-login-otp-sent', flow);
  let otp = null;
  for (let i = 0; i < 100 && !otp; i++) { otp = otpFromSink(); if (!otp) await page.waitForTimeout(200); }
  expect(otp, 'no OTP reached the SMS sink');
  await page.getByLabel('ओटीपी (6 अंक)').fill(otp);
  await page.getByRole('button', { name: 'लॉग इन करें' }).click();
  // My properties (linked to the mobile) list the property.
  await page.getByRole('link', { name: propertyId }).click();
  const payable = (await page.getByTestId('payable').textContent()).trim();
  expect(/^₹[\d,]+\.\d\d$/.test(payable), `payable shown as ${payable}`);
  await screen(page, 'citizen-property-dues', flow);
  // English one tap away.
  await page.getByRole('button', { name: /English/ }).click();
  // The year's demand notice, as a PDF.
  const noticeFy = (await page.locator('[data-testid^="notice-"]').first().getAttribute('data-testid')).slice(7);
  const [noticeDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('notice-' + noticeFy).click()]);
  const notice = join(artifacts, `demand-notice-${noticeFy}.pdf`);
  await noticeDownload.saveAs(notice);
  await page.getByRole('button', { name: /^Pay ₹/ }).click();
  // The provider's page, then back.
  await page.waitForURL(/\/pay\?/);
  await page.getByRole('button', { name: /^Pay Rs/ }).click();
  await page.waitForURL(/\/pay\/return/);
  const done = page.getByText(/^Paid ₹/);
  await done.waitFor({ timeout: 30000 });
  const doneText = await done.textContent();
  const receiptNo = /Receipt number (\S+)/.exec(doneText)[1];
  await screen(page, 'citizen-tax-paid', flow);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download receipt (PDF)' }).click(),
  ]);
  const pdf = join(artifacts, 'receipt.pdf');
  await download.saveAs(pdf);
  // The language choice is remembered across a reload.
  await page.reload();
  await page.getByRole('heading', { name: 'Payment status' }).waitFor();
  // The receipt's SMS among the messages sent to this citizen (their own list).
  let myMessage = '';
  for (let i = 0; i < 60 && !myMessage; i++) {
    await page.goto(base + '/settings');
    await page.getByRole('heading', { name: 'Messages sent to you' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('main .busy'));
    for (const text of await page.getByTestId('message-text').allTextContents()) if (text.includes(receiptNo)) myMessage = text.trim();
    if (!myMessage) await page.waitForTimeout(500);
  }
  expect(myMessage, `no message with receipt ${receiptNo} in the citizen's messages`);
  await screen(page, 'citizen-my-messages', flow);
  report({ myMessage, payable, receiptNo, pdf, notice, noticeFy, doneText, consoleErrors: errors, ...flow });
} catch (e) {
  if (page) await page.screenshot({ path: join(artifacts, 'failure-citizen_pay.png'), fullPage: true }).catch(() => {});
  throw e;
} finally {
  await close();
}
