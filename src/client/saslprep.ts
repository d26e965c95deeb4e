/**
 * SASLprep (RFC 4013, a stringprep profile, RFC 3454) of a SCRAM password, the way PostgreSQL's
 * src/common/saslprep.c (pg_saslprep) does it: an all-ASCII password is used as it is; otherwise map, normalize
 * (NFKC) and check; a password that fails a check, or is not UTF-8, is used as its raw bytes. Both sides of a
 * SCRAM exchange (libpq, the server) must prepare the same way, or a correct password fails.
 *
 * Covered exactly: the mapping (C.1.2 non-ASCII spaces → U+0020, B.1 "commonly mapped to nothing" removed), an
 * empty result counting as a failure, NFKC, the prohibited-output tables (C.1.2, C.2.1, C.2.2, C.3-C.9) and the
 * RandALCat table (D.1). As in PostgreSQL, the checks look at the mapped string before normalization.
 *
 * Not covered (documented gaps, kept small on purpose):
 * - A.1, unassigned code points of Unicode 3.2: approximated by code points unassigned in Node's current Unicode
 *   (`\p{Cn}`). A password holding a character assigned after Unicode 3.2 (many emoji, newer CJK) is used raw by
 *   PostgreSQL but prepared here; the two agree unless the mapping or NFKC also changes that password.
 * - D.2 (bidi category L) for the RandALCat rule: approximated by letters, spacing marks and non-ASCII decimal
 *   digits that are not RandALCat. Only passwords mixing right-to-left and other text can differ.
 * - NFKC follows Node's ICU Unicode version, PostgreSQL its own (both current Unicode; differences are rare).
 */

type Ranges = readonly (readonly [number, number])[];

const inRanges = (code: number, ranges: Ranges): boolean => ranges.some(([low, high]) => code >= low && code <= high);

// RFC 3454 C.1.2 (pg_saslprep checks it before B.1, so U+200B, in both, becomes a space).
const NON_ASCII_SPACES: Ranges = [[0x00a0, 0x00a0], [0x1680, 0x1680], [0x2000, 0x200b], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000]];

// RFC 3454 B.1.
const MAPPED_TO_NOTHING: Ranges = [[0x00ad, 0x00ad], [0x034f, 0x034f], [0x1806, 0x1806], [0x180b, 0x180d], [0x200b, 0x200d],
  [0x2060, 0x2060], [0xfe00, 0xfe0f], [0xfeff, 0xfeff]];

// Union of RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9 (RFC 4013 §2.3), adjacent ranges merged.
const PROHIBITED: Ranges = [
  [0x0000, 0x001f], [0x007f, 0x00a0], [0x0340, 0x0341], [0x06dd, 0x06dd], [0x070f, 0x070f], [0x1680, 0x1680],
  [0x180e, 0x180e], [0x2000, 0x200f], [0x2028, 0x202f], [0x205f, 0x2063], [0x206a, 0x206f], [0x2ff0, 0x2ffb],
  [0x3000, 0x3000], [0xd800, 0xf8ff], [0xfdd0, 0xfdef], [0xfeff, 0xfeff], [0xfff9, 0xffff], [0x1d173, 0x1d17a],
  ...Array.from({ length: 14 }, (_, plane): [number, number] => [((plane + 1) << 16) | 0xfffe, ((plane + 1) << 16) | 0xffff]),
  [0xe0001, 0xe0001], [0xe0020, 0xe007f], [0xf0000, 0x10ffff],
];

// RFC 3454 D.1: bidirectional category R or AL.
const RAND_AL_CAT: Ranges = [
  [0x05be, 0x05be], [0x05c0, 0x05c0], [0x05c3, 0x05c3], [0x05d0, 0x05ea], [0x05f0, 0x05f4], [0x061b, 0x061b],
  [0x061f, 0x061f], [0x0621, 0x063a], [0x0640, 0x064a], [0x066d, 0x066f], [0x0671, 0x06d5], [0x06dd, 0x06dd],
  [0x06e5, 0x06e6], [0x06fa, 0x06fe], [0x0700, 0x070d], [0x0710, 0x0710], [0x0712, 0x072c], [0x0780, 0x07a5],
  [0x07b1, 0x07b1], [0x200f, 0x200f], [0xfb1d, 0xfb1d], [0xfb1f, 0xfb28], [0xfb2a, 0xfb36], [0xfb38, 0xfb3c],
  [0xfb3e, 0xfb3e], [0xfb40, 0xfb41], [0xfb43, 0xfb44], [0xfb46, 0xfbb1], [0xfbd3, 0xfd3d], [0xfd50, 0xfd8f],
  [0xfd92, 0xfdc7], [0xfdf0, 0xfdfc], [0xfe70, 0xfe74], [0xfe76, 0xfefc],
];

const UNASSIGNED = /\p{Cn}/u;
// In a /u pattern a surrogate range matches only unpaired halves.
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const LETTER_OR_SPACING_MARK = /[\p{L}\p{Mc}]/u;
const DECIMAL_DIGIT = /\p{Nd}/u;
// Digits whose bidi category is not L: ASCII (EN) and the Arabic-Indic sets (AN, EN).
const NOT_L_DIGITS: Ranges = [[0x0030, 0x0039], [0x0660, 0x0669], [0x06f0, 0x06f9]];

const isRandAL = (code: number): boolean => inRanges(code, RAND_AL_CAT);

/** Approximation of RFC 3454 D.2 (see the header comment). */
function isLeftToRightLike(code: number): boolean {
  const char = String.fromCodePoint(code);
  return LETTER_OR_SPACING_MARK.test(char) || (DECIMAL_DIGIT.test(char) && !inRanges(code, NOT_L_DIGITS));
}

/** Whether the mapped code points fail RFC 4013's prohibition or bidi checks (so the raw password is used). */
function fails(codes: readonly number[]): boolean {
  for (const code of codes) {
    if (inRanges(code, PROHIBITED) || UNASSIGNED.test(String.fromCodePoint(code))) return true;
  }
  if (!codes.some(isRandAL)) return false;
  if (!isRandAL(codes[0]!) || !isRandAL(codes[codes.length - 1]!)) return true;
  return codes.some((code) => !isRandAL(code) && isLeftToRightLike(code));
}

/** The bytes PostgreSQL hashes for `password`: its SASLprep result in UTF-8, or the raw bytes when that fails. */
export function saslprepBytes(password: string | Buffer): Buffer {
  let text: string;
  if (typeof password === 'string') {
    // A lone surrogate cannot come from valid UTF-8 input; encoding it would silently change the password.
    if (LONE_SURROGATE.test(password)) throw new Error('the password is not valid Unicode text');
    text = password;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(password);
    } catch {
      return Buffer.from(password); // not UTF-8: raw bytes, as PostgreSQL does
    }
  }
  const raw = Buffer.from(text, 'utf8');
  if (/^[\x00-\x7f]*$/.test(text)) return raw;
  const mapped: number[] = [];
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (inRanges(code, NON_ASCII_SPACES)) mapped.push(0x20);
    else if (!inRanges(code, MAPPED_TO_NOTHING)) mapped.push(code);
  }
  if (mapped.length === 0 || fails(mapped)) return raw;
  return Buffer.from(String.fromCodePoint(...mapped).normalize('NFKC'), 'utf8');
}
