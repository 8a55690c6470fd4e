// Personal data: payment cards, IBANs, US SSNs (redacted by default); emails and phone numbers
// (logged only). No fixed literal precedes a card number, IBAN or SSN, so those rules always run.
import type { DlpRule } from '../types.ts';
import { emailAddress, ibanMod97, paymentCard, phoneNumber, usSsn } from '../validators.ts';
import { re } from './shape.ts';

// Not part of a longer number, word, decimal or version (1.4111…, v4111…, 4111….5). A comma
// separates fields (CSV rows, JSON arrays) as a tab, ';' or '|' does, except where it may be a
// decimal comma: after a digit (`0,4111…`) the run is a field only with another separator after
// it (CARD_IN_LIST: `7,4111…,Jane`, `[…,4111…]`), which a decimal cannot have.
const NUM_START = re`(?:^|[^0-9A-Za-z_.,+/-]|(?:^|[^0-9]),)`;
const NUM_END = re`(?:$|[^0-9A-Za-z_./-]|[.](?:$|[^0-9]))`;
// 4-4-4-4 groups, Amex/Diners 4-6-5 / 4-6-4 groups, or 13-19 plain digits; the first digit one
// an issuer range starts with (2-6), so timestamps and IDs starting 1, 7-9 never reach the check.
const CARD = re`[2-6](?:[0-9]{3}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}|[0-9]{3}[ -][0-9]{6}[ -][0-9]{4,5}|[0-9]{12,18})`;
/** A field between commas (the second not followed by a space), or the last of a JSON array or object. */
const CARD_IN_LIST = re`,(${CARD})(?:,(?:$|[^ ])|[\]}])`;

export const piiRules: DlpRule[] = [
  {
    id: 'payment-card-number',
    description: 'Payment card number (Visa, Mastercard, Amex, Discover, JCB, Diners; Luhn-checked), plain or in 4-digit groups',
    service: 'PII',
    source: 'ISO/IEC 7812 (issuer ranges, Luhn check digit)',
    pattern: re`${NUM_START}(${CARD})${NUM_END}|${CARD_IN_LIST}`,
    keywords: [],
    validate: paymentCard,
    severity: 'high',
    action: 'redact',
    examples: {
      match: [
        'card: 4166 5605 4256 1019',
        '{"number": "5165077516189071", "exp": "09/27", "cvc": "123"}',
        'Amex 3751 159646 32312 exp 03/26',
        'pay with 6011-1312-3845-0073 please',
        'JCB 3530969161617823 / Diners 3667 234953 3392',
        'Visa 4055 4909 5472 7722 123',
        'Mastercard 2-series 2221 7435 2282 5086',
        'id,name,card,exp\n7,Jane Doe,4166560542561019,09/27',
        '7,5165077516189071,Jane Doe,09/27',
        'Jane Doe\t4166 5605 4256 1019\t09/27',
        '"Jane Doe","6011131238450073","09/27"',
        'Jane Doe;5165077516189071;09/27',
        '| Jane Doe | 4166560542561019 | 09/27 |',
        '{"cards":[4525965890921903,5165077516189071]}',
      ],
      nomatch: [
        'order 4408236671415985',
        'card: 5110 9395 4170 8267',
        'ts=1755195198922',
        'ratio 0.4416400892435084',
        'id 9488272063930082',
        'mixed separators 4539 1488-0343 6467',
        'Stripe test card 4242 4242 4242 4242',
        'build 4000 0000 0000 0000',
        'Messwert;0,4166560542561019;mV',
        'ratio 0,4166560542561019',
        '"0,4166560542561019"\t"1,5"',
        'Werte: 0,4166560542561019, 0,5',
        '[0.4166560542561019,0.5]',
        'total 1,234,567,890,123,456',
      ],
    },
  },
  {
    id: 'iban',
    description: 'International Bank Account Number (IBAN; country length and mod-97 check digits verified)',
    service: 'PII',
    source: 'ISO 13616 (IBAN registry: country lengths, mod-97 check digits)',
    pattern: re`(?:^|[^A-Za-z0-9])([A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?))(?:[^A-Za-z0-9]|$)`,
    keywords: [],
    validate: ibanMod97,
    severity: 'high',
    action: 'redact',
    examples: {
      match: ['IBAN: DE23 5339 8623 3534 7607 31', '{"iban": "GB17SOHV85122695831994"}', 'Überweisung an FR14 5332 4463 7979 5544 7251 189.', 'NL: NL69HDAE3177945145'],
      nomatch: ['IBAN: DE38 9992 9958 3517 8720 28', 'GB17YQYT95131879306112', 'ZZ12 3456 7890 1234 5678 90', 'SHA256 AB12CDEF34567890ABCDEF1234'],
    },
  },
  {
    id: 'us-ssn',
    description: 'US Social Security Number (ddd-dd-dddd; area, group and serial rules checked)',
    service: 'PII',
    source: 'https://www.ssa.gov/employer/randomization.html',
    pattern: re`(?:^|[^0-9A-Za-z_./-])([0-9]{3}-[0-9]{2}-[0-9]{4})(?:$|[^0-9A-Za-z_/-]|[.](?:$|[^0-9]))`,
    keywords: [],
    validate: usSsn,
    severity: 'high',
    action: 'redact',
    examples: {
      match: ['SSN: 286-01-1360', '{"ssn":"221-42-3003"}'],
      nomatch: ['SSN: 000-12-3456', 'SSN: 666-12-3456', 'SSN: 912-34-5678', 'SSN: 123-00-4567', 'SSN: 123-45-0000', 'SSN: 078-05-1120', 'part 123-45-67890', 'v1.123-45-6789'],
    },
  },
  {
    id: 'email-address',
    description: 'Email address',
    service: 'PII',
    source: 'RFC 5322 (addr-spec)',
    pattern: re`(?:^|[^A-Za-z0-9._%+/:-]|mailto:)([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,6}[A-Za-z]{2,24})\b`,
    keywords: ['@'],
    validate: emailAddress,
    severity: 'low',
    action: 'log',
    examples: {
      match: ['contact: jane.doe+billing@acme-corp.co.uk', '{"to": "ops@acme.io"}', '<a href="mailto:sales@acme.io">'],
      nomatch: ['https://examplePublicKey@o0.ingest.sentry.io/0', 'upstream: https://user:pw@api.acme.io/v1', 'logo@2x.png', 'git@github.com:acme/infra.git', '"lodash": "npm:@acme/lodash@4.17.21"', '@media (max-width: 600px)'],
    },
  },
  {
    id: 'phone-number',
    description: 'International phone number (+country code, E.164 style)',
    service: 'PII',
    source: 'ITU-T E.164',
    pattern: re`(?:^|[^0-9A-Za-z_+.=/)\]-])(\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5})(?:$|[^0-9A-Za-z_-]|[.](?:$|[^0-9]))`,
    keywords: ['+'],
    validate: phoneNumber,
    severity: 'low',
    action: 'log',
    examples: {
      match: ['call +1 415 555 0132', '{"phone": "+4930123456789"}', 'Tel. +44 20 7946 0958.', '+33 1 23 45 67 89'],
      nomatch: ["Decimal('+35236450.6')", 'offset +05:30', 'x = a+1234567890', 'v1.2.3+20240611', 'version +12', 'count +1111111111'],
    },
  },
];
