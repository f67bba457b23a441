# layerlens as a container image:
#   docker build -t layerlens .
#   docker run --rm -v "$PWD:/work" layerlens check app.tar --max-size 150MB
# BASE is any image with Node >= 20.19 and npm: the official Node 20 slim image by default (the tests build on one
# they make themselves, as no registry outside the machine is reachable there).
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The TypeScript build needs only the devDependencies' JavaScript: no install script runs here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# The release exactly as npm publishes it (prepack builds dist/ and the man page), installed the way users install
# it, production dependencies only. zstd-napi's script fetches or builds its native binding where it can; where it
# cannot, the optional dependency is dropped and layerlens decodes zstd with fzstd (pure JS).
RUN npm pack --pack-destination /tmp \
 && npm install --global --prefix /opt/layerlens --omit=dev --no-audit --no-fund --allow-scripts=zstd-napi /tmp/layerlens-*.tgz \
 && rm -rf /opt/layerlens/lib/node_modules/layerlens/node_modules/zstd-napi/build/Release/obj.target \
           /opt/layerlens/lib/node_modules/layerlens/node_modules/zstd-napi/build/Release/.deps \
           /opt/layerlens/lib/node_modules/layerlens/node_modules/zstd-napi/deps \
 && find /opt/layerlens -name '*.map' -type f -exec rm -f {} + \
 && find /opt/layerlens/lib/node_modules/layerlens/node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
      -o -iname 'README*.md' -o -iname 'CHANGELOG*.md' -o -iname 'HISTORY.md' \) -exec rm -f {} +
# (The last three steps: libzstd's build objects and sources; dependencies' source maps, which point at sources
# their packages do not ship; and dependencies' TypeScript declarations and read-mes, 9 MB of the layer with Ink's
# es-toolkit and @types/node. None is read at run time; licences stay, and so do layerlens's own declarations,
# for library users.)

# The final stage adds one layer to the Node runtime: the installed package and its production modules.
FROM ${BASE}
COPY --from=build /opt/layerlens /opt/layerlens
ENV PATH=/opt/layerlens/bin:$PATH NODE_ENV=production
# The official Node images' unprivileged user (uid 1000); its home holds the blob cache.
USER node
WORKDIR /work
ENTRYPOINT ["layerlens"]
CMD ["--help"]
