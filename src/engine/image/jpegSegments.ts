/**
 * A JPEG's marker segments before its first scan (SOI, APPn, DQT, SOFn, DHT, ..., SOS), walked from the header
 * alone. One walker for every reader of JPEG headers (the frame header of peakMemory.ts, the EXIF block of
 * orientation.ts, the end-of-image check of decode.ts), so they agree on fill bytes and stand-alone markers.
 */

export interface JpegSegment {
  /** The marker's second byte (0xC0 SOF0, 0xDA SOS, 0xE1 APP1, ...). */
  marker: number;
  /** Where the marker's FF byte is. */
  at: number;
  /** Where the segment's payload starts (after the 2-byte length); `at + 2` for a stand-alone marker. */
  payload: number;
}

/** Stand-alone markers carry no length: TEM and RST0..RST7. */
function standAlone(m: number): boolean {
  return m === 0x01 || (m >= 0xd0 && m <= 0xd7);
}

/**
 * The segments after SOI, in order, up to and including the first SOS or EOI; stops early at a byte that is not a
 * marker or a segment header cut short. Fill bytes (FF FF) are skipped.
 */
export function* jpegSegments(b: Uint8Array): Generator<JpegSegment> {
  let i = 2;
  while (i + 1 < b.length) {
    if (b[i] !== 0xff) return;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (standAlone(marker) || marker === 0xd9) {
      yield { marker, at: i, payload: i + 2 };
      if (marker === 0xd9) return;
      i += 2;
      continue;
    }
    if (i + 3 >= b.length) return;
    yield { marker, at: i, payload: i + 4 };
    if (marker === 0xda) return;
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
}

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): the frame header. */
export function isFrameHeader(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

/**
 * True when an EOI marker (FF D9) follows the first SOS segment. An EOI inside an EXIF thumbnail does not count
 * (the walk skips whole segments); inside entropy-coded data FF is always followed by 00 or a restart marker, so
 * any FF D9 after SOS is a real end-of-image marker.
 */
export function jpegHasEnd(b: Uint8Array): boolean {
  let sos: JpegSegment | undefined;
  for (const s of jpegSegments(b)) if (s.marker === 0xda) sos = s;
  if (!sos) return false; // no scan, or an EOI before any scan: no image data
  for (let j = sos.payload; j + 1 < b.length; j++) if (b[j] === 0xff && b[j + 1] === 0xd9) return true;
  return false;
}
