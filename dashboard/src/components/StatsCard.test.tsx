import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { StatsCard } from "./StatsCard";
import { Empty } from "./StateBox";

describe("components", () => {
  it("StatsCard shows its label and value", () => {
    render(<StatsCard label="Total tokens" value="1.2k" testId="c" />);
    expect(screen.getByTestId("c").textContent).toContain("Total tokens");
    expect(screen.getByTestId("c").textContent).toContain("1.2k");
  });
  it("Empty tells the user where to point a client", () => {
    render(<Empty />);
    expect(screen.getByTestId("empty").textContent).toContain(":11435");
  });
});
