"""`make demo`: a whole sync, start to finish, against the local EWS emulator.

1. starts the EWS emulator on 127.0.0.1:8765 (or `DEMO_EWS_PORT`) with its state in
   `.demo/`, or reuses one already running there that holds the demo's accounts; when the
   port is taken by anything else it says so and starts its own on a free port;
2. seeds a provider, its master account with delegate grants and three trainers (one per
   direction, printed with what each direction does) from `demo/trainers.csv`, and
   courses, venues and sessions from a generated events CSV, through the same code as
   `trainer-sync trainer import` / `events import`;
3. enters the trainers' own Outlook appointments (one recurring) through EWS, as the
   trainers themselves;
4. runs the `sync-provider` flow (on `make ui`'s server when it is up, else on Prefect's
   ephemeral API) and prints what was created
   where and why, by trainer and in time order; says why the `in` trainer got no course;
   shows one pushed course as the trainer's Outlook reads it back from Exchange (venue
   address and joining-instruction links). On the first run it then plays the seed's FAQ —
   Ann deletes a course in Outlook and edits another — and syncs again to show both put
   back.

Running it again changes nothing. Everything lives in `.demo/` of the working directory;
`make clean` removes it.
"""
