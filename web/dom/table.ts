/** What both status pages draw with: a table's body replaced by rows, every cell set as text (nothing is parsed as HTML). */
export function fillTable(id: string, rows: (string | number)[][]): void {
  const body = document.querySelector(`#${id} tbody`)!;
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = String(c);
        tr.append(td);
      }
      return tr;
    }),
  );
}
