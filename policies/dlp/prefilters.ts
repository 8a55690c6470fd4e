// Prefilters for the native scanner (proxy/dlp/native.ts): for rules whose keywords are common in
// code ('@', '+', 'pat', 'token', 'pass'), or that have none, a Hyperscan pattern that matches
// inside every match of the rule and is rare in ordinary text. The scanner verifies the rule near
// each prefilter hit instead of near each keyword. Contract, tested on every rule example and by
// the planted-secret properties (test/unit/dlp-prefilters.test.ts): wherever the rule's pattern
// matches, the prefilter matches within that match. Hyperscan reads bytes, not characters, so a
// class repeat here counts bytes: `{n}` of a class that excludes only ASCII stays a superset.

import { GENERIC_PREFILTERS } from './rules/generic.ts';

export const PREFILTERS: Readonly<Record<string, string>> = {
  // No keyword at all: shapes found from byte-class masks in one pass (native/dlp/src/shapes.cc):
  // 13 digits or 'dddd dddd', 'ddd-dd-dddd', 'AA00' then 11 letters/digits or a space, and a
  // base64 run right after '.xxxxxx.'. Hyperscan patterns for these cost a third of its speed.
  'payment-card-number': 'native:card',
  iban: 'native:iban',
  'us-ssn': 'native:ssn',
  'discord-bot-token': 'native:discord',
  // Keywords that are punctuation or word parts in code.
  'email-address': '@[A-Za-z0-9][A-Za-z0-9.-]*\\.[A-Za-z]{2}',
  'phone-number': '\\+[1-9][0-9]{0,2}[ .-]?\\(?[0-9]',
  'airtable-pat': 'pat[A-Za-z0-9]{14}\\.',
  'url-credentials': '://[^\\s:@/"\'<>\\\\]*:[^\\s/"\'<>\\\\]+@',
  'mailchimp-api-key': '[0-9a-f]{8}-us[0-9]',
  'sendgrid-api-key': 'SG\\.[A-Za-z0-9_-]{22}\\.',
  'crates-io-token': 'cio[A-Za-z0-9]{32}',
  'databricks-token': 'dapi[a-f0-9]{32}',
  'square-access-token': 'EAAA[A-Za-z0-9_-]{60}|sq0atp-',
  'basic-auth-credentials': '(?i)basic[ \\t]{1,4}[A-Za-z0-9+/]{6}',
  'bearer-token': '(?i)bearer[ \\t]{1,4}[A-Za-z0-9_.~+/-]{20}',
  'connection-string-password': '(?i)(?:password|pwd)[ \\t]{0,2}=',
  // Generic assignments: the key word, what leads to the value in each form, the value's start
  // (generic.ts builds them from the same pieces as the rules: shape.ts codeAssignmentPrefilter).
  ...GENERIC_PREFILTERS,
};
