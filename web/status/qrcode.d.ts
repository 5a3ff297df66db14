// qrcode's browser build ships no types, and @types/qrcode would bring Node's globals into the
// page's program: declare the one function the status page uses.
declare module 'qrcode/lib/browser.js' {
  export function toString(
    text: string,
    options: { type: 'svg'; errorCorrectionLevel: 'L' | 'M' | 'Q' | 'H'; margin: number; color: { dark: string; light: string } },
  ): Promise<string>;
}
