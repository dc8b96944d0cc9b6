/**
 * Colormaps: 256-entry RGB lookup tables and colouring of normalized maps.
 *
 * Pure TypeScript, no imports: used by the webview (browser) and the CLI (node).
 *
 * Accuracy of each table (8-bit RGB, entry i is the colour at i / 255 of the published map):
 * - jet:     MATLAB's `jet(256)` computed from its piecewise-linear definition, exact up to
 *            rounding to 8 bits. Starts at (0,0,131) (MATLAB's first row is [0 0 0.5156]),
 *            ends at (128,0,0).
 * - turbo:   Google's published 256-entry Turbo table (Anton Mikhailov, 2019, Apache-2.0 data, the
 *            same values matplotlib ships as `turbo`), each channel rounded to 8 bits: exact up to
 *            +-0.5 of a level. (Not the published polynomial approximation, which is off by up to
 *            ~32 levels at the dark end: it gives (35,23,27) at 0.) Starts at (48,18,59), ends at (122,4,3).
 * - viridis, inferno: matplotlib's 256-entry tables (van der Walt, Smith, Firing; CC0 data),
 *            each channel rounded to 8 bits: exact up to +-0.5 of a level, no interpolation.
 *            viridis (68,1,84) -> (253,231,37); inferno (0,0,4) -> (252,255,164).
 * - gray:    identity, entry i is (i,i,i).
 *
 * Value to entry: index = floor(v * 256) clamped to [0, 255] (matplotlib's convention for a
 * 256-colour map: 256 equal-width bins over [0, 1]); NaN counts as 0.
 */

export const COLORMAPS = ['jet', 'turbo', 'viridis', 'inferno', 'gray'] as const;
export type ColormapName = (typeof COLORMAPS)[number];

export function isColormapName(name: unknown): name is ColormapName {
  return typeof name === 'string' && (COLORMAPS as readonly string[]).includes(name);
}

// 256 colours each, 6 hex digits (RRGGBB) per colour, rounded from the published float tables.
const TURBO_HEX = [
  '30123b32154333184a341b51351e5836215f37246638276d392a733a2d793b2f803c32863d358b3e38913f3b973f3e9c',
  '4040a24143a74146ac4249b1424bb5434eba4451bf4454c34456c74559cb455ccf455ed34661d64664da4666dd4669e0',
  '466be3476ee64771e94773eb4776ee4778f0477bf2467df44680f64682f84685fa4687fb458afc458cfd448ffe4391fe',
  '4294ff4196ff4099ff3e9bfe3d9efe3ba0fd3aa3fc38a5fb37a8fa35abf833adf731aff52fb2f42eb4f22cb7f02ab9ee',
  '28bceb27bee925c0e723c3e422c5e220c7df1fc9dd1ecbda1ccdd81bd0d51ad2d21ad4d019d5cd18d7ca18d9c818dbc5',
  '18ddc218dec018e0bd19e2bb19e3b91ae4b61ce6b41de7b21fe9af20eaac22ebaa25eca727eea42aefa12cf09e2ff19b',
  '32f29835f39438f4913cf58e3ff68a43f78746f8844af8804ef97d52fa7a55fa7659fb735dfc6f61fc6c65fd6969fd66',
  '6dfe6271fe5f75fe5c79fe597dff5680ff5384ff5188ff4e8bff4b8fff4992ff4796fe4499fe429cfe409ffd3fa1fd3d',
  'a4fc3ca7fc3aa9fb39acfb38affa37b1f936b4f836b7f735b9f635bcf534bef434c1f334c3f134c6f034c8ef34cbed34',
  'cdec34d0ea34d2e935d4e735d7e535d9e436dbe236dde037dfdf37e1dd37e3db38e5d938e7d739e9d539ebd339ecd13a',
  'eecf3aefcd3af1cb3af2c93af4c73af5c53af6c33af7c13af8be39f9bc39faba39fbb838fbb637fcb336fcb136fdae35',
  'fdac34fea933fea732fea431fea130fe9e2ffe9b2dfe992cfe962bfe932afe9029fd8d27fd8a26fc8725fc8423fb8122',
  'fb7e21fa7b1ff9781ef9751df8721cf76f1af66c19f56918f46617f36315f26014f15d13f05b12ef5811ed5510ec530f',
  'eb500eea4e0de84b0ce7490ce5470be4450ae2430ae14109df3f08dd3d08dc3b07da3907d83706d63506d43305d23105',
  'd02f05ce2d04cc2b04ca2a04c82803c52603c32503c12302be2102bc2002b91e02b71d02b41b01b21a01af1801ac1701',
  'a91601a71401a41301a112019e10019b0f01980e01950d01920b018e0a018b09028808028507028106027e05027a0403',
].join('');

const VIRIDIS_HEX = [
  '44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769',
  '48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a',
  '472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85',
  '4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b',
  '3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d',
  '33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e',
  '2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e',
  '26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d',
  '21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88',
  '1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81',
  '28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74',
  '3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863',
  '5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d',
  '84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32',
  'addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a',
  'd8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725',
].join('');

const INFERNO_HEX = [
  '00000401000501010601010802010a02020c02020e03021004031204031405041706041907051b08051d09061f0a0722',
  '0b07240c08260d08290e092b10092d110a30120a32140b34150b37160b39180c3c190c3e1b0c411c0c431e0c451f0c48',
  '210c4a230c4c240c4f260c51280b53290b552b0b572d0b592f0a5b310a5c320a5e340a5f3609613809623909633b0964',
  '3d09653e0966400a67420a68440a68450a69470b6a490b6a4a0c6b4c0c6b4d0d6c4f0d6c510e6c520e6d540f6d550f6d',
  '57106e59106e5a116e5c126e5d126e5f136e61136e62146e64156e65156e67166e69166e6a176e6c186e6d186e6f196e',
  '71196e721a6e741a6e751b6e771c6d781c6d7a1d6d7c1d6d7d1e6d7f1e6c801f6c82206c84206b85216b87216b88226a',
  '8a226a8c23698d23698f24699025689225689326679526679727669827669a28659b29649d29649f2a63a02a63a22b62',
  'a32c61a52c60a62d60a82e5fa92e5eab2f5ead305dae305cb0315bb1325ab3325ab43359b63458b73557b93556ba3655',
  'bc3754bd3853bf3952c03a51c13a50c33b4fc43c4ec63d4dc73e4cc83f4bca404acb4149cc4248ce4347cf4446d04545',
  'd24644d34743d44842d54a41d74b3fd84c3ed94d3dda4e3cdb503bdd513ade5238df5337e05536e15635e25734e35933',
  'e45a31e55c30e65d2fe75e2ee8602de9612bea632aeb6429eb6628ec6726ed6925ee6a24ef6c23ef6e21f06f20f1711f',
  'f1731df2741cf3761bf37819f47918f57b17f57d15f67e14f68013f78212f78410f8850ff8870ef8890cf98b0bf98c0a',
  'f98e09fa9008fa9207fa9407fb9606fb9706fb9906fb9b06fb9d07fc9f07fca108fca309fca50afca60cfca80dfcaa0f',
  'fcac11fcae12fcb014fcb216fcb418fbb61afbb81dfbba1ffbbc21fbbe23fac026fac228fac42afac62df9c72ff9c932',
  'f9cb35f8cd37f8cf3af7d13df7d340f6d543f6d746f5d949f5db4cf4dd4ff4df53f4e156f3e35af3e55df2e661f2e865',
  'f2ea69f1ec6df1ed71f1ef75f1f179f2f27df2f482f3f586f3f68af4f88ef5f992f6fa96f8fb9af9fc9dfafda1fcffa4',
].join('');

function lutFromHex(hex: string): Uint8Array {
  if (hex.length !== 256 * 6) throw new Error(`colormap table has ${hex.length} hex digits, expected 1536`);
  const lut = new Uint8Array(768);
  for (let i = 0; i < 768; i++) lut[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return lut;
}

/**
 * MATLAB's jet(m) for m = 256: with n = ceil(m/4), the ramp
 * u = [1/n .. n/n, ones(n-1), n/n .. 1/n] (length 3n-1) is laid over the table at offsets
 * g = ceil(n/2) - (m mod 4 == 1) + j for green, g + n for red and g - n for blue; entries that
 * fall outside the table are dropped and the rest of each channel is 0.
 */
function jetLut(): Uint8Array {
  const m = 256;
  const n = Math.ceil(m / 4);
  const uLen = 3 * n - 1;
  const u = (j: number): number => {
    // j is 1-based, 1..uLen
    if (j <= n) return j / n;
    if (j <= 2 * n - 1) return 1;
    return (3 * n - j) / n;
  };
  const shift = Math.ceil(n / 2) - (m % 4 === 1 ? 1 : 0);
  const r = new Float64Array(m);
  const g = new Float64Array(m);
  const b = new Float64Array(m);
  for (let j = 1; j <= uLen; j++) {
    const gi = shift + j; // 1-based table row
    const ri = gi + n;
    const bi = gi - n;
    if (gi >= 1 && gi <= m) g[gi - 1] = u(j);
    if (ri >= 1 && ri <= m) r[ri - 1] = u(j);
    if (bi >= 1 && bi <= m) b[bi - 1] = u(j);
  }
  const lut = new Uint8Array(768);
  for (let i = 0; i < m; i++) {
    lut[i * 3] = Math.round(r[i] * 255);
    lut[i * 3 + 1] = Math.round(g[i] * 255);
    lut[i * 3 + 2] = Math.round(b[i] * 255);
  }
  return lut;
}

function grayLut(): Uint8Array {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut[i * 3] = lut[i * 3 + 1] = lut[i * 3 + 2] = i;
  return lut;
}

const cache = new Map<ColormapName, Uint8Array>();

function buildLut(name: ColormapName): Uint8Array {
  switch (name) {
    case 'jet':
      return jetLut();
    case 'turbo':
      return lutFromHex(TURBO_HEX);
    case 'viridis':
      return lutFromHex(VIRIDIS_HEX);
    case 'inferno':
      return lutFromHex(INFERNO_HEX);
    case 'gray':
      return grayLut();
    default: {
      const never: never = name;
      throw new RangeError(`unknown colormap '${String(never)}' (expected one of ${COLORMAPS.join(', ')})`);
    }
  }
}

/**
 * The 256-entry RGB lookup table of a colormap: 768 bytes, entry i at [3i, 3i+1, 3i+2].
 * Returns a fresh copy each call (callers may modify it).
 */
export function colormapLut(name: ColormapName): Uint8Array {
  if (!isColormapName(name)) {
    throw new RangeError(`unknown colormap '${String(name)}' (expected one of ${COLORMAPS.join(', ')})`);
  }
  let lut = cache.get(name);
  if (!lut) {
    lut = buildLut(name);
    cache.set(name, lut);
  }
  return new Uint8Array(lut);
}

/** Table index of a normalized value: floor(v * 256) clamped to [0, 255]; NaN -> 0. */
export function lutIndex(v: number): number {
  if (!(v > 0)) return 0; // also NaN
  if (v >= 1) return 255;
  const i = Math.floor(v * 256);
  return i > 255 ? 255 : i;
}

export interface ColorizeOptions {
  /**
   * NaN marks a pixel the map does not cover (outside the model's input, placement.ts): it gets no colour at
   * all, RGBA (0, 0, 0, 0), so no heat is drawn there. Without it NaN counts as 0.
   */
  nanTransparent?: boolean;
}

/**
 * Colours a normalized map (values in [0, 1]; out-of-range values clamp, NaN counts as 0 unless
 * `nanTransparent`) into RGBA pixels with alpha 255, ready for `ImageData` or a PNG encoder.
 */
export function colorize(normalized: Float32Array, name: ColormapName, opts?: ColorizeOptions): Uint8ClampedArray {
  const lut = colormapLut(name);
  const out = new Uint8ClampedArray(normalized.length * 4);
  const nanTransparent = opts?.nanTransparent === true;
  for (let p = 0, o = 0; p < normalized.length; p++, o += 4) {
    if (nanTransparent && Number.isNaN(normalized[p])) continue; // stays 0, 0, 0, 0
    const k = lutIndex(normalized[p]) * 3;
    out[o] = lut[k];
    out[o + 1] = lut[k + 1];
    out[o + 2] = lut[k + 2];
    out[o + 3] = 255;
  }
  return out;
}
