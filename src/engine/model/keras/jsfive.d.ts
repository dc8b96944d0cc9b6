// Types for the parts of jsfive (a pure-JS HDF5 reader, no types of its own) that the Keras reader uses.
declare module 'jsfive' {
  type AttrValue = string | number | bigint | Array<string | number | bigint> | unknown;
  export class Group {
    readonly name: string;
    readonly keys: string[];
    readonly attrs: Record<string, AttrValue>;
    get(path: string): Group | Dataset | null;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename?: string);
  }
  export class Dataset {
    readonly name: string;
    readonly shape: number[];
    /** e.g. "<f4", "<f2", ">f8", "<i8"; an array for compound or variable-length types. */
    readonly dtype: string | unknown[];
    readonly attrs: Record<string, AttrValue>;
    readonly value: ArrayLike<number | bigint>;
  }
}
