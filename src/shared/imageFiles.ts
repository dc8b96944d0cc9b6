/** File names Saliency Lens explains: what the Explorer menu offers and what a folder run picks up. */
export const IMAGE_FILE = /\.(png|jpe?g|bmp|gif|webp)$/i;
