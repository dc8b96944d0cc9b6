import * as yauzl from 'yauzl';
import { fileError, UserError } from '../../errors';
import { MAX_ARCHIVE_ENTRIES, MAX_ARCHIVE_EXPANSION, MAX_CONFIG_BYTES, MAX_ENTRY_RATIO, RATIO_CHECK_FROM } from './limits';

/** The entries of a Keras 3 `.keras` archive that the reader uses; nothing else is extracted. */
export interface KerasArchive {
  config: Buffer;
  metadata?: Buffer;
  weights: Buffer;
}

const WANTED: Record<string, number> = { 'config.json': MAX_CONFIG_BYTES, 'metadata.json': MAX_CONFIG_BYTES, 'model.weights.h5': MAX_ARCHIVE_EXPANSION };

function mib(n: number): string {
  return n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${n} bytes`;
}

/** yauzl's own refusals of entry names (zip slip), reworded as ours. */
function describeZipError(file: string, err: Error): UserError {
  const m = /^(invalid relative path|absolute path|invalid characters in fileName): (.*)$/.exec(err.message);
  if (m) return fileError(file, `archive entry "${m[2]}" points outside the archive, so the file is refused (a .keras file holds config.json, metadata.json and model.weights.h5)`);
  if (/too many bytes|not enough bytes/.test(err.message)) {
    return fileError(file, `an archive entry does not hold the size its header declares (${err.message}), so the file is refused as corrupt or a zip bomb`);
  }
  return fileError(file, `is not a readable .keras archive (a zip of config.json, metadata.json and model.weights.h5): ${err.message}`);
}

function openZip(buffer: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true, validateEntrySizes: true, decodeStrings: true }, (err, zip) => (err ? reject(err) : resolve(zip!)));
  });
}

function readEntry(file: string, zip: yauzl.ZipFile, entry: yauzl.Entry, cap: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error('no stream'));
      const chunks: Buffer[] = [];
      let total = 0;
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        // yauzl stops at the declared size too; this bounds memory even if it did not.
        if (total > entry.uncompressedSize || total > cap) {
          stream.destroy();
          reject(fileError(file, `archive entry "${entry.fileName}" expands past its declared ${mib(entry.uncompressedSize)}, so the file is refused as a possible zip bomb`));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('error', (e: Error) => reject(/too many bytes|not enough bytes/.test(e.message)
        ? fileError(file, `archive entry "${entry.fileName}" does not hold the ${mib(entry.uncompressedSize)} its header declares (${e.message}), so the file is refused as corrupt or a zip bomb`)
        : e));
      stream.on('end', () => resolve(Buffer.concat(chunks, total)));
    });
  });
}

/**
 * Reads config.json, metadata.json and model.weights.h5 from a `.keras` archive held in memory.
 * Every entry name is checked (none may leave the archive), declared sizes are held to a total cap and
 * a per-entry ratio before anything is inflated, and inflated sizes must match the declared ones.
 */
export async function readKerasArchive(file: string, buffer: Buffer): Promise<KerasArchive> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(buffer);
  } catch (err) {
    throw describeZipError(file, err as Error);
  }
  try {
    if (zip.entryCount > MAX_ARCHIVE_ENTRIES) throw fileError(file, `archive lists ${zip.entryCount} entries; a .keras file holds three, so it is refused`);
    const entries = new Map<string, yauzl.Entry>();
    let declared = 0;
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: yauzl.Entry) => {
        declared += entry.uncompressedSize;
        if (declared > MAX_ARCHIVE_EXPANSION) {
          return reject(fileError(file, `archive entries would expand to more than ${mib(MAX_ARCHIVE_EXPANSION)}, so the file is refused as a possible zip bomb`));
        }
        if (entry.uncompressedSize > RATIO_CHECK_FROM && entry.uncompressedSize > MAX_ENTRY_RATIO * Math.max(1, entry.compressedSize)) {
          return reject(fileError(file, `archive entry "${entry.fileName}" would expand from ${mib(entry.compressedSize)} to ${mib(entry.uncompressedSize)} ` +
            `(more than ${MAX_ENTRY_RATIO}×), so the file is refused as a possible zip bomb`));
        }
        if (entry.fileName in WANTED) {
          if (entries.has(entry.fileName)) return reject(fileError(file, `archive holds "${entry.fileName}" twice, so the file is refused`));
          if (entry.isEncrypted()) return reject(fileError(file, `archive entry "${entry.fileName}" is encrypted`));
          if (entry.uncompressedSize > WANTED[entry.fileName]) return reject(fileError(file, `archive entry "${entry.fileName}" is too large (${mib(entry.uncompressedSize)})`));
          entries.set(entry.fileName, entry);
        }
        zip.readEntry();
      });
      zip.readEntry();
    });
    const read = async (name: string): Promise<Buffer | undefined> => {
      const entry = entries.get(name);
      return entry ? readEntry(file, zip, entry, WANTED[name]) : undefined;
    };
    const config = await read('config.json');
    const metadata = await read('metadata.json');
    const weights = await read('model.weights.h5');
    if (!config) throw fileError(file, 'is not a Keras model archive: it has no config.json (save the model with model.save("model.keras"))');
    if (!weights) throw fileError(file, 'is not a complete Keras model archive: it has no model.weights.h5');
    return { config, metadata, weights };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw describeZipError(file, err as Error);
  } finally {
    try {
      zip.close();
    } catch {
      // already closed
    }
  }
}
