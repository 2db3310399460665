import { MUTED } from "./ui";

export function TableHead({ columns }: { columns: string[] }) {
  return (
    <thead className={MUTED}>
      <tr>
        {columns.map((h) => (
          <th key={h} className="px-3 py-2 font-medium">
            {h}
          </th>
        ))}
      </tr>
    </thead>
  );
}
